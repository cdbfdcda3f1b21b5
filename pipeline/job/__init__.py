"""The Beam job's steps, in the order pipeline.score chains them: launch checks, match, read, decode
(pipeline.photo), measure, inference, rows, write, commit; plus incremental runs and progress."""
