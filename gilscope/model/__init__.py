"""The timeline and the figures derived from it. Pure data, no I/O, no Textual."""
