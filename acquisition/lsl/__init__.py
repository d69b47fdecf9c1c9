"""LSL: outlets that publish every local stream live, and the inlet source that records streams others publish."""
