"""Facial 3D scanner driver: a FILE source (the vendor software exports captures into a folder).

`source.ScannerSource` watches the export folder (`folder_watch`), reads and validates each capture
(`ingest`, `loaders`, `validate`, `metrics`) into a `capture.ScanCapture`, moves files to `ingested/` or
`rejected/`, and checks the scanner's USB identity at pre-flight (`usb_identity`; tests use the custom pyusb
backend in `usb_sim_backend`). `simulator` / `simulate_cli` write simulated captures into a folder.
See docs/devices.md.
"""
