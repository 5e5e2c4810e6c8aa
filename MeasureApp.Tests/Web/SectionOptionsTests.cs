using System.Text.Json;
using MeasureApp.Acquisition;
using MeasureApp.Tests.Infrastructure;
using Microsoft.AspNetCore.Identity;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Options;

namespace MeasureApp.Tests.Web;

/// <summary>
/// Every configuration section goes through one mechanism: bound, checked at start, and a bad value
/// stops the start with one sentence that names its key and the value given.
/// </summary>
public sealed class SectionOptionsTests
{
    [Theory]
    [InlineData("Security:RegistrationsPerHour", "0", "Security:RegistrationsPerHour must be between 1 and 10000 (got 0).")]
    [InlineData("Auth:RevalidationSeconds", "600", "Auth:RevalidationSeconds must be between 5 and 60 (got 600).")]
    [InlineData("Admin:Password", "short", "Admin:Password needs at least 8 characters.")]
    [InlineData("Limits:MaxChannels", "99", "Limits:MaxChannels must be between 1 and 8 (got 99).")]
    [InlineData("Limits:MaxDuration", "40.00:00:00", "Limits:MaxDuration must be between 00:00:01 and 30.00:00:00 (got 40.00:00:00).")]
    [InlineData("Monitor:PipelinePercentWarning", "0", "Monitor:PipelinePercentWarning must be between 0.1 and 1000 (got 0).")]
    [InlineData("Storage:Spool:MaxBytes", "10", "Storage:Spool:MaxBytes must be at least 1 MiB (got 10).")]
    [InlineData("Metrics:ScrapeToken", " padded-token ", "Metrics:ScrapeToken must not start or end with a space or hold control characters.")]
    [InlineData("Acquisition:BlockMilliseconds", "0", "Acquisition:BlockMilliseconds must be between 1 and 100 (got 0).")]
    public void ABadValueStopsTheStartWithASentenceNamingTheKey(string key, string value, string sentence)
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { [key] = value });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(sentence, Messages(error));
    }

    [Theory]
    [InlineData("Relay:FramesPerSecond", "0", "Relay:FramesPerSecond must be between 1 and 60 (got 0).")]
    [InlineData("Redis:CommandTimeout", "00:00:00", "Redis:CommandTimeout must be more than 0 (got 00:00:00).")]
    public void ABadValueOfARedisSectionStopsTheStartWithASentenceNamingTheKey(string key, string value, string sentence)
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?>
        {
            ["ConnectionStrings:Redis"] = TestEnvironment.RedisConnectionString,
            [key] = value,
        });

        var error = Assert.ThrowsAny<Exception>(() => factory.CreateClient());

        Assert.Contains(sentence, Messages(error));
    }

    [Fact]
    public void AnItemOfAListIsNamedByItsIndex()
    {
        var validator = new SectionValidator<MeasureApp.Acquisition.Devices.AcquisitionOptions>("Acquisition");
        var options = new MeasureApp.Acquisition.Devices.AcquisitionOptions();
        options.Devices.Add(new() { Id = "ok" });
        options.Devices.Add(new() { Id = "bad id!" });

        var result = validator.Validate(null, options);

        Assert.Contains(result.Failures!, f => f.StartsWith("Acquisition:Devices:1:Id may only hold", StringComparison.Ordinal));
    }

    [Fact]
    public void TheSecurityStampIsCheckedAsOftenAsOpenTabsRevalidate()
    {
        using var factory = new AppFactory(DatabaseProvider.Sqlite, new Dictionary<string, string?> { ["Auth:RevalidationSeconds"] = "7" });

        var stamp = factory.Services.GetRequiredService<IOptions<SecurityStampValidatorOptions>>().Value;

        Assert.Equal(TimeSpan.FromSeconds(7), stamp.ValidationInterval);
    }

    [Fact]
    public void TheShippedConfigurationStatesTheLimitTablesDefaults()
    {
        using var json = JsonDocument.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "appsettings.json")));
        var shipped = json.RootElement.GetProperty("Limits");
        var defaults = new UserLimits();

        foreach (var limit in LimitTable.All)
        {
            var value = shipped.GetProperty(limit.Key);
            var text = value.ValueKind == JsonValueKind.String ? TimeSpan.Parse(value.GetString()!, System.Globalization.CultureInfo.InvariantCulture).ToString() : value.GetRawText();
            var expected = typeof(UserLimits).GetProperty(limit.Key)!.GetValue(defaults) is IFormattable f ? f.ToString(null, System.Globalization.CultureInfo.InvariantCulture) : null;
            Assert.True(expected == text, $"appsettings.json Limits:{limit.Key} is {text}, the table's default is {expected}");
        }
    }

    private static List<string> Messages(Exception e)
    {
        var messages = new List<string>();
        for (Exception? x = e; x is not null; x = x.InnerException)
        {
            if (x is OptionsValidationException options)
            {
                messages.AddRange(options.Failures);
            }
            if (x is AggregateException aggregate)
            {
                messages.AddRange(aggregate.InnerExceptions.SelectMany(Messages));
            }
            messages.Add(x.Message);
        }
        return messages;
    }
}
