//! The provider flags of the commands that ask a model, and building a
//! [`crate::ai::ask::Asker`] from them.

use super::error::CliError;
use super::input;
use crate::ai::Overrides;
use crate::ai::ask::{Asker, Place};
use crate::ai::prompt::Templates;

/// The flags that choose and configure a provider.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ProviderArgs {
    /// The provider: openai, anthropic, command or manual [default: aiflow.provider, else manual].
    #[arg(long, value_name = "name")]
    pub provider: Option<String>,
    /// The model [default: aiflow.model].
    #[arg(long, value_name = "name")]
    pub model: Option<String>,
    /// The server's base URL, such as http://127.0.0.1:8080/v1 [default: aiflow.baseUrl].
    #[arg(long, value_name = "url")]
    pub base_url: Option<String>,
    /// The program the command provider runs, prompt on stdin [default: aiflow.command].
    #[arg(long = "command", value_name = "cmd")]
    pub command: Option<String>,
    /// The limit for one request, in seconds [default: aiflow.timeout, else 300].
    #[arg(long, value_name = "seconds")]
    pub timeout: Option<u64>,
}

impl ProviderArgs {
    fn overrides(&self) -> Overrides {
        Overrides {
            provider: self.provider.clone(),
            model: self.model.clone(),
            base_url: self.base_url.clone(),
            command: self.command.clone(),
            timeout: self.timeout,
        }
    }

    /// The provider these flags choose over `repo`'s config, ready to be asked. `label` names
    /// prompt and answer files (`rate-limit-plan`), kept in the draft directory; `again` is
    /// the command that asks again (`git aiflow plan rate-limit`), for hints.
    pub fn asker(
        &self,
        repo: &crate::git::Repository,
        templates: Templates,
        label: &str,
        again: String,
    ) -> Result<Asker, CliError> {
        let place = Place {
            again,
            label: label.to_string(),
            save_dir: input::draft_dir(repo),
            editor: input::editor_command(repo).ok(),
        };
        Ok(Asker::new(repo, &self.overrides(), templates, place)?)
    }
}
