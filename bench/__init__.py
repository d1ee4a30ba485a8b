# bench/ is a package so its test modules (test_shapes.py, ...) never collide with tests/'s
# modules of the same name when both folders run in one pytest invocation.
