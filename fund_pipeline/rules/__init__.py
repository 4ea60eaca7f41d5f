"""Policy rules as data: the catalogue, the derived columns they read, and their GX compilation."""
