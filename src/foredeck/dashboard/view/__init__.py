"""The run page `/view/{id}` (Spyglass's successor): lenses chosen by the build's files."""
