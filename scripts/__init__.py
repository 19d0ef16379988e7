"""Scripts the Makefile and the CI/CD pipeline run (importable for their tests)."""
