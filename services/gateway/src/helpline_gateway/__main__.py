from helpline_common.server import serve_main
from helpline_gateway.service import create_server
from helpline_gateway.settings import GatewaySettings

if __name__ == "__main__":
    serve_main(GatewaySettings, create_server)
