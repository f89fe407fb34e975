"""Settings variants of dedwen that the suite can measure (`--dedwen-settings`) before a change is proposed."""
