"""A photo's bytes to a decoded photo at the working scale, with the reason when it cannot be: format
dispatch, damage checks, EXIF, RAW previews. No Beam: every function here runs and is tested alone."""
