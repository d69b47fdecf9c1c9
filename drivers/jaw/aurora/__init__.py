"""NDI Aurora / Polaris mandibular tracker over the Combined API (ASCII serial protocol).

Modules: `crc` (CRC-16 of replies and colon-form commands), `errors` (ERRORxx codes), `commands` (command
builder/parser), `codec` (streaming reply reader, TX/PHSR/PHINF decoders), `geometry` (quaternions, incisal
point), `config`, `discovery`, `driver` (AuroraTracker + AuroraJawSource), `simulator`, `simulate_cli`.
"""
