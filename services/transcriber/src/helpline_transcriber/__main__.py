from helpline_common.server import serve_main
from helpline_transcriber.service import create_server
from helpline_transcriber.settings import TranscriberSettings

if __name__ == "__main__":
    serve_main(TranscriberSettings, create_server)
