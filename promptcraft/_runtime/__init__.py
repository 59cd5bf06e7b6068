"""What generated renderers call at run time: the standard library only, never attrs or the spec model."""
