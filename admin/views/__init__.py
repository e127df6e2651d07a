"""Back-office views: one base view that checks access, thin views per screen."""
