from wordlm.cli import main

main()
