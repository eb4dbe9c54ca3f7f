"""seqdiff's protein domain."""
