"""NDI Aurora / Polaris mandibular tracker over the Combined API (ASCII and binary serial protocol).

Modules: `crc` (CRC-16 of replies and colon-form commands), `errors` (ERRORxx codes), `commands` (command
builder/parser), `codec` (reply models, TX/PHSR/PHINF/ERROR decoders), `bx` (the binary BX reply),
`reply_reader` (splits the byte stream into replies, CRC checks, resync), `geometry` (quaternions, incisal
point), `config`, `discovery`, `tracker` (`AuroraTracker`: reset, init, TX/BX polling loop), `poller` (the tracker
in its own process), `driver` (`AuroraJawSource`), the simulator (`simulator` with `sim_commands`, `sim_replies`,
`sim_pose`) and `simulate_cli`.
"""
