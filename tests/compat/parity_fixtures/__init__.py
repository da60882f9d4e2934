"""Model classes that tests/test_parity.py names by class path on the rlmigrate command line."""
