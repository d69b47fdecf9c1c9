"""Pieces shared by the serial drivers and their simulators: the pty port a simulator serves, the fault
switchboard, the reconnecting serial link and the paced emission loop."""
