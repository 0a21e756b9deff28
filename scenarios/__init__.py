"""The render app's data-access layer, each operation in naive and optimized variants."""
