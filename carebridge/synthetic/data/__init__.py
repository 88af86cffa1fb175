"""The generator's data files (YAML), shipped with the package; read by synthetic.config."""
