using System.Globalization;
using MeasureApp.Acquisition.Measurements;
using MeasureApp.Data;
using MeasureApp.History;
using Microsoft.EntityFrameworkCore;

namespace MeasureApp.Tags;

/// <summary>The tags and key/value metadata of a measurement, tags sorted, keys sorted.</summary>
/// <param name="Tags">Tags as written (duplicates ignoring case removed).</param>
/// <param name="Metadata">Free key/value pairs (device under test, operator, serial number, project…).</param>
public sealed record MeasurementLabels(IReadOnlyList<string> Tags, IReadOnlyDictionary<string, string> Metadata)
{
    /// <summary>No tags, no metadata.</summary>
    public static MeasurementLabels Empty { get; } = new([], new Dictionary<string, string>());
}

/// <summary>How a change of tags or metadata went.</summary>
public enum LabelOutcome
{
    /// <summary>Stored.</summary>
    Ok,
    /// <summary>Unknown measurement, or not visible to the requester (answered like unknown).</summary>
    NotFound,
    /// <summary>Visible (shared read-only) but only its owner or an admin changes it.</summary>
    Forbidden,
    /// <summary>Refused input; <see cref="LabelResult.Error"/> says why.</summary>
    Invalid,
}

/// <summary>Outcome of a change.</summary>
public sealed record LabelResult(LabelOutcome Outcome, MeasurementLabels? Labels = null, string? Error = null);

/// <summary>
/// Tags and metadata of measurements. Reads go through <see cref="MeasurementCatalog.FindReadableAsync"/> (whoever may see the
/// measurement sees its labels; anyone else gets "not found"); writes also need write access, which is the owner or an
/// admin (<see cref="MeasurementCatalog.FindWritableAsync"/>) — a user the measurement is shared with reads but does not change them.
/// A write replaces the whole set, so a PUT is idempotent.
/// </summary>
public sealed class MeasurementLabelService(IDbContextFactory<AppDbContext> contexts, MeasurementCatalog catalog)
{
    /// <summary>Most tags on one measurement.</summary>
    public const int MaxTags = 30;
    /// <summary>Longest tag.</summary>
    public const int MaxTagLength = 40;
    /// <summary>Most metadata entries on one measurement.</summary>
    public const int MaxEntries = 30;
    /// <summary>Longest metadata key.</summary>
    public const int MaxKeyLength = 64;
    /// <summary>Longest metadata value.</summary>
    public const int MaxValueLength = 500;

    /// <summary>The labels of a visible measurement, or null when it is unknown or not visible.</summary>
    public async Task<MeasurementLabels?> GetAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        if (await catalog.FindReadableAsync(requester, measurementId, cancellationToken) is null)
        {
            return null;
        }
        return (await LoadAsync([measurementId], cancellationToken)).GetValueOrDefault(measurementId, MeasurementLabels.Empty);
    }

    /// <summary>
    /// Labels of measurements the caller has already found visible (a page of the list); measurements without any
    /// are missing from the result.
    /// </summary>
    public async Task<Dictionary<Guid, MeasurementLabels>> LoadAsync(IReadOnlyCollection<Guid> measurementIds, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(measurementIds);
        if (measurementIds.Count == 0)
        {
            return [];
        }
        await using var db = await contexts.CreateDbContextAsync(cancellationToken);
        var tags = await db.Set<MeasurementTagRecord>().AsNoTracking().Where(t => measurementIds.Contains(t.MeasurementId)).ToListAsync(cancellationToken);
        var metadata = await db.Set<MeasurementMetadataRecord>().AsNoTracking().Where(m => measurementIds.Contains(m.MeasurementId)).ToListAsync(cancellationToken);
        return tags.Select(t => t.MeasurementId).Concat(metadata.Select(m => m.MeasurementId)).Distinct().ToDictionary(id => id, id => new MeasurementLabels(
            [.. tags.Where(t => t.MeasurementId == id).Select(t => t.Tag).Order(StringComparer.OrdinalIgnoreCase)],
            new SortedDictionary<string, string>(metadata.Where(m => m.MeasurementId == id).ToDictionary(m => m.Key, m => m.Value, StringComparer.OrdinalIgnoreCase), StringComparer.OrdinalIgnoreCase)));
    }

    /// <summary>Replaces the tags (owner or admin).</summary>
    public async Task<LabelResult> SetTagsAsync(Requester requester, Guid measurementId, IReadOnlyList<string?>? tags, CancellationToken cancellationToken)
    {
        if (await WritableAsync(requester, measurementId, cancellationToken) is { } refused)
        {
            return refused;
        }
        if (ValidateTags(tags) is { } error)
        {
            return new LabelResult(LabelOutcome.Invalid, Error: error);
        }
        var rows = NormalizeTags(tags!).Select(t => new MeasurementTagRecord { MeasurementId = measurementId, Tag = t, Normalized = Fold(t) }).ToList();
        return await ReplaceAsync(measurementId, rows, db => db.MeasurementTags.Where(t => t.MeasurementId == measurementId), cancellationToken);
    }

    /// <summary>Replaces the metadata (owner or admin).</summary>
    public async Task<LabelResult> SetMetadataAsync(Requester requester, Guid measurementId, IReadOnlyDictionary<string, string?>? metadata, CancellationToken cancellationToken)
    {
        if (await WritableAsync(requester, measurementId, cancellationToken) is { } refused)
        {
            return refused;
        }
        if (ValidateMetadata(metadata) is { } error)
        {
            return new LabelResult(LabelOutcome.Invalid, Error: error);
        }
        var rows = metadata!.Select(p => (Key: p.Key.Trim(), Value: p.Value!.Trim()))
            .Select(p => new MeasurementMetadataRecord { MeasurementId = measurementId, Key = p.Key, Value = p.Value, Normalized = Fold($"{p.Key}: {p.Value}") }).ToList();
        return await ReplaceAsync(measurementId, rows, db => db.MeasurementMetadata.Where(m => m.MeasurementId == measurementId), cancellationToken);
    }

    // Old set out, new set in, in one transaction: a reader sees the old or the new labels, never a mix or none.
    private async Task<LabelResult> ReplaceAsync<T>(Guid measurementId, List<T> rows, Func<AppDbContext, IQueryable<T>> existing, CancellationToken cancellationToken)
        where T : class
    {
        await using (var db = await contexts.CreateDbContextAsync(cancellationToken))
        {
            await using var tx = await db.Database.BeginTransactionAsync(cancellationToken);
            await existing(db).ExecuteDeleteAsync(cancellationToken);
            db.AddRange(rows);
            await db.SaveChangesAsync(cancellationToken);
            await tx.CommitAsync(cancellationToken);
        }
        return new LabelResult(LabelOutcome.Ok, (await LoadAsync([measurementId], cancellationToken)).GetValueOrDefault(measurementId, MeasurementLabels.Empty));
    }

    /// <summary>Write access: the owner or an admin. A measurement the requester may not see answers like an unknown one.</summary>
    private async Task<LabelResult?> WritableAsync(Requester requester, Guid measurementId, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(requester);
        return (await catalog.FindWritableAsync(requester, measurementId, cancellationToken)).Verdict switch
        {
            WriteVerdict.Writable => null,
            WriteVerdict.ReadOnly => new LabelResult(LabelOutcome.Forbidden),
            _ => new LabelResult(LabelOutcome.NotFound),
        };
    }

    /// <summary>Why <paramref name="tags"/> is refused, or null when it is fine.</summary>
    public static string? ValidateTags(IReadOnlyList<string?>? tags)
    {
        if (tags is null)
        {
            return "A JSON array of tags is required, e.g. [\"calibration\", \"rev-b\"] ([] removes all).";
        }
        var inv = CultureInfo.InvariantCulture;
        if (tags.Count > MaxTags)
        {
            return string.Create(inv, $"At most {MaxTags} tags (there are {tags.Count}).");
        }
        foreach (var tag in tags)
        {
            var t = tag?.Trim();
            if (string.IsNullOrEmpty(t))
            {
                return "Empty tags are not allowed.";
            }
            if (t.Length > MaxTagLength)
            {
                return string.Create(inv, $"The tag '{t[..MaxTagLength]}…' has {t.Length} characters; at most {MaxTagLength} are allowed.");
            }
            if (t.Any(char.IsControl))
            {
                return "Tags may not contain line breaks or control characters.";
            }
        }
        return null;
    }

    /// <summary>Why <paramref name="metadata"/> is refused, or null when it is fine.</summary>
    public static string? ValidateMetadata(IReadOnlyDictionary<string, string?>? metadata)
    {
        if (metadata is null)
        {
            return "A JSON object of string values is required, e.g. {\"operator\": \"Ada\", \"serial\": \"SN-42\"} ({} removes all).";
        }
        var inv = CultureInfo.InvariantCulture;
        if (metadata.Count > MaxEntries)
        {
            return string.Create(inv, $"At most {MaxEntries} metadata entries (there are {metadata.Count}).");
        }
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var (rawKey, rawValue) in metadata)
        {
            var key = rawKey.Trim();
            if (key.Length == 0)
            {
                return "Metadata keys may not be empty.";
            }
            if (key.Length > MaxKeyLength)
            {
                return string.Create(inv, $"The key '{key[..MaxKeyLength]}…' has {key.Length} characters; at most {MaxKeyLength} are allowed.");
            }
            if (key.Any(char.IsControl))
            {
                return "Metadata keys may not contain line breaks or control characters.";
            }
            if (!seen.Add(key))
            {
                return $"The key '{key}' appears twice (keys ignore case).";
            }
            var value = rawValue?.Trim();
            if (string.IsNullOrEmpty(value))
            {
                return $"The value of '{key}' is empty; remove the key instead.";
            }
            if (value.Length > MaxValueLength)
            {
                return string.Create(inv, $"The value of '{key}' has {value.Length} characters; at most {MaxValueLength} are allowed.");
            }
            if (value.Any(c => char.IsControl(c) && c is not '\n' and not '\t'))
            {
                return $"The value of '{key}' contains control characters.";
            }
        }
        return null;
    }

    /// <summary>Trimmed, without duplicates ignoring case (as <see cref="Fold"/> sees it), first spelling kept.</summary>
    public static IReadOnlyList<string> NormalizeTags(IEnumerable<string?> tags) =>
        [.. tags.Select(t => t?.Trim() ?? "").Where(t => t.Length > 0).DistinctBy(Fold, StringComparer.Ordinal)];

    /// <summary>The case-folded form stored beside tags and metadata and applied to search terms.</summary>
    public static string Fold(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        return text.ToLowerInvariant();
    }
}
