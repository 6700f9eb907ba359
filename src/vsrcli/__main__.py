from vsrcli.cli import main

main()
