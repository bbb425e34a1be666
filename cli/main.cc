// sculpt: the command line. Each subcommand lives in its own file and registers itself here.
#include <cstdio>

#include <CLI/CLI.hpp>

#include "cli/common.h"

int main(int argc, char** argv) {
  CLI::App app{"Sculpt: a CPU runtime for text diffusion language models", "sculpt"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("sculpt 0.1.0"));
  sculpt::cli::RegisterInfo(app);
  sculpt::cli::RegisterLogits(app);
  sculpt::cli::RegisterGenerate(app);
  sculpt::cli::RegisterInfill(app);
  sculpt::cli::RegisterBench(app);
  sculpt::cli::RegisterTokenize(app);
  sculpt::cli::RegisterServe(app);
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::RuntimeError& e) {
    return e.get_exit_code();  // the subcommand already printed its one error line
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr, "sculpt: error: %s (see sculpt --help)\n", e.what());
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "sculpt: error: %s\n", e.what());
    return 1;
  }
  return 0;
}
