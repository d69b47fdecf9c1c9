"""Four-load-cell serial board (HX711-class ADCs): codec, driver, simulator. Protocol: docs/devices.md."""
