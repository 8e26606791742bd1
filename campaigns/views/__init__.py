"""The staff pages of the campaigns module (sending's are in sending.py)."""
