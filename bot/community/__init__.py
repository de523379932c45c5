"""Community features: server feeds (/feed), what a server liked (/top, weekly recaps)."""
