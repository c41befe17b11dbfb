"""Publishing the course: the website (``site``) and the lecture decks (``slides``)."""
