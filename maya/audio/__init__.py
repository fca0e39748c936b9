"""Audio access: tar header walking and the tar-offset reader."""
