"""`python -m hawkeye.serve`: the A → B pipeline as one OpenAI-compatible endpoint (`hawkeye.serving`)."""

from hawkeye.serving.cli import main

if __name__ == "__main__":
    main()
