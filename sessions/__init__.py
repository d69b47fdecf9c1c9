"""The visit: subject/visit/operator models, protocol steps, session manager, recovery, CLI."""
