"""Pure sync logic: values, wire validation, cursors and versioning. No I/O, no clock reads."""
