"""The app's widgets: each draws one part of a Snapshot."""
