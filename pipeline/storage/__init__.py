"""Local, gs:// and s3:// files: a photo's identity (files), bounded reads (read), where results go
(output)."""
