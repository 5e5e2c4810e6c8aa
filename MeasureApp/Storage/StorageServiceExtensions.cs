using MeasureApp.Acquisition.Storage;

namespace MeasureApp.Storage;

/// <summary>Registers the parts of the storage path beyond the store itself.</summary>
public static class StorageServiceExtensions
{
    /// <summary>
    /// Spool under the data directory (so a crash's leftovers are found at the next start) and the
    /// retention purge.
    /// </summary>
    public static IServiceCollection AddSampleStorage(this IServiceCollection services, DatabaseSettings database)
    {
        ArgumentNullException.ThrowIfNull(database);
        services.AddSectionOptions<SpoolOptions>(SpoolOptions.SectionName, o => [o.Problem()])
            .PostConfigure(o => o.Directory ??= Path.Combine(database.DataDirectory, "spool"));
        services.AddHostedService<RetentionPurgeService>();
        return services;
    }
}
