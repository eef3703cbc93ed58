from sweeper_cli.cli import main

main()
