"""EMG sources: BITalino (r)evolution boards over serial, and a vendor's EMG amplifier published on LSL."""
