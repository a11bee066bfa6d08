"""Reaching people beyond the site: the newsletter's pages, the Atom feed, the embed."""
