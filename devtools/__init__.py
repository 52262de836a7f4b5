"""Tools for working on PrintFair: the stack listener and lock check `make` uses, and the virtual
printer the tests and the demo run (`virtual_printer`)."""
