"""How the `mediamon` commands print (split next)."""
