"""What a format means and how it is compiled: the core representation (ir), lowering, the
reference interpreter, the Python code generator and its compiler."""
