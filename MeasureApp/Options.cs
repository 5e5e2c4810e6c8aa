using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Options;

namespace MeasureApp;

/// <summary><c>Auth</c> section.</summary>
public sealed class AuthOptions
{
    public const string SectionName = "Auth";

    /// <summary>Whether anyone may create an account on the login page (<c>Auth:AllowRegistration</c>); off by default.</summary>
    public bool AllowRegistration { get; set; }

    /// <summary>New accounts stay locked until an administrator unlocks them on the Users page.</summary>
    public bool RegistrationRequiresApproval { get; set; } = true;

    /// <summary>When not empty, only e-mail addresses at these domains may register (e.g. <c>lab.example.org</c>).</summary>
    public IList<string> RegistrationDomains { get; } = [];

    /// <summary>How often open circuits re-check the user (lock, delete, demote), in seconds.</summary>
    [Range(5, 60, ErrorMessage = "Auth:RevalidationSeconds must be between {1} and {2}.")]
    public int RevalidationSeconds { get; set; } = 30;
}

/// <summary><c>Admin</c> section: the account that exists on first start.</summary>
public sealed class AdminOptions
{
    public const string SectionName = "Admin";

    /// <summary>E-mail of the first admin; empty → admin@measureapp.local with a generated password.</summary>
    public string? Email { get; set; }

    /// <summary>Password of the first admin; empty → generated and written once to the log.</summary>
    public string? Password { get; set; }
}

/// <summary><c>Limits</c> section: defaults for every user (admins override per user).</summary>
public sealed class LimitsOptions
{
    public const string SectionName = "Limits";

    [Range(1, 64, ErrorMessage = "Limits:MaxParallelMeasurements must be between {1} and {2}.")]
    public int MaxParallelMeasurements { get; set; } = 4;

    [Range(100, 100_000, ErrorMessage = "Limits:MaxSampleRate must be between {1} and {2}.")]
    public double MaxSampleRate { get; set; } = 100_000;

    [Range(1, 8, ErrorMessage = "Limits:MaxChannels must be between {1} and {2}.")]
    public int MaxChannels { get; set; } = 8;

    [Range(10_000, 1_000_000_000, ErrorMessage = "Limits:MaxLiveBytesPerSecond must be between {1} and {2}.")]
    public long MaxLiveBytesPerSecond { get; set; } = 10_000_000;

    [Range(typeof(TimeSpan), "00:00:01", "30.00:00:00", ErrorMessage = "Limits:MaxDuration must be between {1} and {2}.")]
    public TimeSpan MaxDuration { get; set; } = TimeSpan.FromHours(8);

    [Range(1, 1000, ErrorMessage = "Limits:MaxSessions must be between {1} and {2}.")]
    public int MaxSessions { get; set; } = 10;

    [Range(typeof(TimeSpan), "00:01:00", "3650.00:00:00", ErrorMessage = "Limits:Retention must be between {1} and {2}.")]
    public TimeSpan Retention { get; set; } = TimeSpan.FromHours(48);

    /// <summary>Streaming downloads (CSV/Parquet export) one user may have running at once.</summary>
    [Range(1, 64, ErrorMessage = "Limits:MaxConcurrentExports must be between {1} and {2}.")]
    public int MaxConcurrentExports { get; set; } = 2;
}

/// <summary><c>Storage</c> section.</summary>
public sealed class StorageOptions
{
    public const string SectionName = "Storage";

    /// <summary>Folder for the SQLite database, keys and spool (relative to the content root).</summary>
    [Required(ErrorMessage = "Storage:DataDirectory is required.")]
    public string DataDirectory { get; set; } = "data";
}

[OptionsValidator]
public sealed partial class AuthOptionsValidator : IValidateOptions<AuthOptions>;

/// <summary>Empty values are allowed (generated admin); set values must be usable.</summary>
public sealed class AdminOptionsValidator : IValidateOptions<AdminOptions>
{
    public ValidateOptionsResult Validate(string? name, AdminOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        var errors = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.Email) && !new EmailAddressAttribute().IsValid(options.Email))
        {
            errors.Add($"Admin:Email '{options.Email}' is not an e-mail address.");
        }
        if (!string.IsNullOrEmpty(options.Password) && options.Password.Length < 8)
        {
            errors.Add("Admin:Password needs at least 8 characters.");
        }
        return errors.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(errors);
    }
}

[OptionsValidator]
public sealed partial class LimitsOptionsValidator : IValidateOptions<LimitsOptions>;

[OptionsValidator]
public sealed partial class StorageOptionsValidator : IValidateOptions<StorageOptions>;

/// <summary><c>Monitor</c> section: thresholds that highlight overload on the Monitor page.</summary>
public sealed class MonitorOptions
{
    public const string SectionName = "Monitor";

    [Range(1, 1e12, ErrorMessage = "Monitor:ValuesPerSecondWarning must be between {1} and {2}.")]
    public double ValuesPerSecondWarning { get; set; } = 10_000_000;

    [Range(1, 1e12, ErrorMessage = "Monitor:BytesToBrowserPerSecondWarning must be between {1} and {2}.")]
    public double BytesToBrowserPerSecondWarning { get; set; } = 5_000_000;

    [Range(0.1, 1000, ErrorMessage = "Monitor:PipelinePercentWarning must be between {1} and {2}.")]
    public double PipelinePercentWarning { get; set; } = 50;

    [Range(0.001, 1e6, ErrorMessage = "Monitor:DroppedFramesPerSecondWarning must be between {1} and {2}.")]
    public double DroppedFramesPerSecondWarning { get; set; } = 1;

    [Range(1, 600_000, ErrorMessage = "Monitor:LatencyP99WarningMilliseconds must be between {1} and {2}.")]
    public double LatencyP99WarningMilliseconds { get; set; } = 60;
}

[OptionsValidator]
public sealed partial class MonitorOptionsValidator : IValidateOptions<MonitorOptions>;

/// <summary>
/// Validates options that describe their own problem in one sentence naming the key
/// (<c>Relay:Lease must be…</c>), and passes that sentence on unchanged.
/// </summary>
public sealed class ProblemValidator<TOptions>(Func<TOptions, string?> problem) : IValidateOptions<TOptions>
    where TOptions : class
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, TOptions options) =>
        problem(options) is { } message ? ValidateOptionsResult.Fail(message) : ValidateOptionsResult.Success;
}
