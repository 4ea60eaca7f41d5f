"""Who may see and do what: warehouse roles and grants (roles.py), the UI's door (door.py)."""
