"""The web widget's live side: the visitors' websocket (consumer and routing),
visitor identity, rate limits and history. The channel's platform module is
`channels_app.platforms.web_widget`; the script is `static/widget/`."""
