"""What can be ordered: items, kits built from items, and the devices that are shipped."""
