"""Reference servers the suite compares dedwen with."""
