fn main() {
    std::process::exit(reporter::run(std::env::args_os()));
}
