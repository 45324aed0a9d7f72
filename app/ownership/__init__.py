"""Cases, ownership (包案), assignments and statutory clocks."""
