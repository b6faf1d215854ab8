from helpline_common.server import serve_main
from helpline_scorer.service import create_server
from helpline_scorer.settings import ScorerSettings

if __name__ == "__main__":
    serve_main(ScorerSettings, create_server)
