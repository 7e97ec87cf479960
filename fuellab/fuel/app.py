from aiohttp import web
def make_app(lab):
    app = web.Application()
    async def version(request):
        return web.json_response({"release": "7.0"})
    app.router.add_get("/api/v1/version", version)
    return app
