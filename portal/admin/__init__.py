"""Administration: admin accounts and customers."""
